// Imaging module: see DESIGN §1.
