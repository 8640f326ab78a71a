"""The control-plane model: functions, versions, aliases and their configuration."""
