// Tokenizer module: see DESIGN §1.
