"""The graded parts of the course assignments, one module per assignment notebook (engine/catalog.py's
ASSIGNMENTS maps one to the other), and the small random Llamas their cases build (models.py)."""
