"""Thin entry points; the logic lives in pg_keras and serving."""
