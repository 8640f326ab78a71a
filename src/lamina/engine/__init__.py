"""The data plane: the invoker, concurrency, the async queue, environments and sandboxes."""
