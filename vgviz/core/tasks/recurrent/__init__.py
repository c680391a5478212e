"""The recurrent task: rnn / lstm / gru on the recall task, with ‖∂L/∂h_t‖ per time step."""
