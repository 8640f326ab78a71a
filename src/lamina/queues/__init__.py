"""SQS-compatible queues stored in the node's store."""
