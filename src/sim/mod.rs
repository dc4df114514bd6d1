//! A portal simulator faithful to the documented API, with test hooks under `/_sim/`.
