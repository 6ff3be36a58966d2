"""The domain: `origination` (an application's steps, from sign-up to a booked loan), the
decision service (features → rules → model → priced offers, recorded for audit), `postloan`
(the nightly inspection) and `container` (the services one process builds once)."""
