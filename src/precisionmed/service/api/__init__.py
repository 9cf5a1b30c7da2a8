"""The API routers: auth, cases, models, users, system (health and metrics)."""
