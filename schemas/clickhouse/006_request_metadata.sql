-- Request metadata apart from the user's own fields (issue: no user placed at the sender's
-- server): who sent the request and with which HTTP client. `ip` and `user_agent` are the
-- user's; they come from the request only for the mobile batch, the family users' devices call.
ALTER TABLE events ADD COLUMN IF NOT EXISTS sender_ip Nullable(String) COMMENT 'Request metadata: the address that sent the request (TCP peer, or the client a trusted proxy forwarded for)' AFTER user_agent;
ALTER TABLE events ADD COLUMN IF NOT EXISTS sender_user_agent Nullable(String) COMMENT 'Request metadata: the User-Agent header of the request' AFTER sender_ip;
ALTER TABLE events COMMENT COLUMN ip 'The user''s IP address (v4 or v6): the event''s own, or (mobile batch only) the request''s';
ALTER TABLE events COMMENT COLUMN user_agent 'The user''s User-Agent: the event''s own, or (mobile batch only) the request''s';
