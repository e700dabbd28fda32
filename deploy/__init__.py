"""How the platform is started outside the services themselves (`deploy.local`: one machine)."""
