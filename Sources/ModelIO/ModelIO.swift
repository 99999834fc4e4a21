// ModelIO module: see DESIGN §1.
