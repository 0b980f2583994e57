"""Hotline transcript ingestion: batches of 12319/12345 call records classified, located and filed."""
