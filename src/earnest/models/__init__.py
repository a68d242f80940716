"""Models: splitters aware of label spans (walk-forward, purged k-fold with embargo, CPCV) and
out-of-sample metrics. Estimators, the MLflow registry and Dask execution come with issue 6."""
