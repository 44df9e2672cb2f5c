"""Finding queries and clusters again: ANN indexes on disk (`index`), a BM25 keyword index
(`keyword_index`), words and stop words (`keywords`), and the searches on top (`search`)."""
