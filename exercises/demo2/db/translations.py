"""The "database" of demo 2: "Hello world" in a few languages."""

TRANSLATIONS = [
    "Hello world",
    "Hola mundo",
    "Bonjour le monde",
    "Hallo Welt",
    "Ciao mondo",
    "Olá mundo",
    "Γειά σου κόσμε",
]
