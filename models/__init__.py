"""Model registry and generation backends. Never imports `arena`."""
