"""The shared service runtime: one call gives a domain service its config, server, health,
metrics, tracing, logging, database, Redis and clients (see `services.kit.server.run`)."""
