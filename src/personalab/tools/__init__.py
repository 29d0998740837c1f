"""Small maintenance tools used by the Makefile and the bench (opening the book, the
labs' provenance, Chapter 1's core claims on a new base checkpoint)."""
