/**
 * An operator's open sessions, by index: routing, capacity, availability, transfers and the operator list count them,
 * and a move locks them. `sessions_operator` (operator_id, seq) holds every session the operator ever had, so each
 * count read the whole history (measured on PGlite, 50 operators: 3.5 ms a routing read at 400 closed sessions each,
 * 15.6 ms at 4,000; 1.2 and 1.7 ms with this).
 */
export const sql = `
CREATE INDEX sessions_operator_assigned ON sessions (operator_id, seq) WHERE status = 'assigned';
`
