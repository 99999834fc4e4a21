// ShapesWorld module: see DESIGN §1 (placeholder until its first file lands).
