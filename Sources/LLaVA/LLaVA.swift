// LLaVA module: see DESIGN §1.
