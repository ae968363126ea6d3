//! Excel and CSV import of people lists.
