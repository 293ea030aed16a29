"""A TF Serving compatible model server for TF2 SavedModels, and a client for it.

Run it with `python -m serving --model_name=NAME --model_base_path=DIR` (flags as
`tensorflow_model_server`'s); query it with `serving.client.Client`.
"""

__all__ = ["client", "errors"]
