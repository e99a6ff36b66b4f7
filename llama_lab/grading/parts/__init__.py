"""The graded parts of the course assignments, one module per assignment notebook (llama_lab.grading.ASSIGNMENTS
maps one to the other), and the small random Llamas their cases build (models.py)."""
