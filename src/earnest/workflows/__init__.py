"""Use cases wiring the stages together: the composition root. Only the edge (CLI, service,
scheduler) calls these; the stages never import them."""
