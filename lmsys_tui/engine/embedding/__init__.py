"""The embed stage: models behind one protocol (`embedders`), each query embedded once per
space into an append-only vector file (`embed`, `vectors`, `vector_chunks`), and a
torch-free encoder for search queries (`query_encoder`)."""
