"""The online endpoint on Ray Serve: the ingress app, HTTP parsing and errors, stage replicas, settings."""
