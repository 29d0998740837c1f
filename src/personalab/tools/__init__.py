"""Small maintenance tools used by the Makefile (opening the book, benchmarks)."""
