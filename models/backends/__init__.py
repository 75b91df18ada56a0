"""Chat backends: each module serves one kind of model behind the ChatBackend protocol."""
