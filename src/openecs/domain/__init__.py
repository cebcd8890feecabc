"""Plain data and rules of the ECS model, free of storage and transport."""
