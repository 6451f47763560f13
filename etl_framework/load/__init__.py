"""Write strategies: load into staging, guard, publish atomically.

See `etl_framework.load.strategies` for the four strategies (replace table,
replace window, merge, append) and docs/loading.md for the guide.
"""
