"""One dlt source module per vendor."""
