"""Load a synthetic world into the database: origination (dealers, customers,
applications) then servicing (booked loans and their repayments)."""
