"""HTTP: routing, the one dispatcher every operation goes through, declared lists, the OpenAPI
document and the middleware of each surface. Resources declare; this package does the rest."""
