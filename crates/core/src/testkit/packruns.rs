//! packruns
