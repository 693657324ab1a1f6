-- A few rows of the league, with explicit keys so the tests can name them.
INSERT INTO country (code, name) VALUES ('GB', 'United Kingdom'), ('ES', 'Spain'), ('DE', 'Germany');
INSERT INTO season (season_id, label, starts_on, ends_on) VALUES (1, '2026/27', '2026-08-01', '2027-05-31');
INSERT INTO venue (venue_id, name, city, capacity, gates, country_code)
VALUES (1, 'Northfield', 'Leeds', 30000, '{1,2,7}', 'GB'), (2, 'Estadio Sol', 'Sevilla', 45000, NULL, 'ES');
INSERT INTO team (team_id, name, country_code, home_venue_id, founded_on, colors, crest, last_update) VALUES
    (1, 'Leeds Rovers', 'GB', 1, '1904-05-01', '{white,blue}', '\x0102ff', '2026-07-01 10:00:00+00'),
    (2, 'Sevilla Norte', 'ES', 2, NULL, '{red}', NULL, '2026-07-01 10:00:00+00'),
    (3, 'Berlin Eins', 'DE', NULL, '1920-01-01', '{}', NULL, '2026-07-01 10:00:00+00');
INSERT INTO player (player_id, team_id, full_name, position, shirt, mentor_id, born_on, rating, created_at) VALUES
    ('00000000-0000-0000-0000-000000000001', 1, 'Ada Keane', 'forward', 9, NULL, '1998-03-02', 8.5, '2026-07-01 10:00:00+00'),
    ('00000000-0000-0000-0000-000000000002', 1, 'Ben Ortiz', 'midfielder', 8, '00000000-0000-0000-0000-000000000001', NULL, 7.0, '2026-07-01 10:00:00+00'),
    ('00000000-0000-0000-0000-000000000003', 2, 'Carla Ruiz', 'forward', 10, NULL, '1996-11-20', 8.9, '2026-07-01 10:00:00+00'),
    ('00000000-0000-0000-0000-000000000004', 2, 'Dario Vega', 'defender', 4, '00000000-0000-0000-0000-000000000003', NULL, NULL, '2026-07-01 10:00:00+00'),
    ('00000000-0000-0000-0000-000000000005', 3, 'Emil Brandt', 'goalkeeper', 1, NULL, NULL, 6.5, '2026-07-01 10:00:00+00'),
    ('00000000-0000-0000-0000-000000000006', NULL, 'Fay Lund', 'defender', NULL, '00000000-0000-0000-0000-000000000001', NULL, NULL, '2026-07-01 10:00:00+00');
UPDATE player SET alternate_positions = '{midfielder,defender}' WHERE full_name = 'Ada Keane';
INSERT INTO player_profile (player_id, biography, nickname)
VALUES ('00000000-0000-0000-0000-000000000001', 'Top scorer of the academy.', 'Ace');
INSERT INTO staff (staff_id, team_id, full_name, job) VALUES (1, 1, 'Greta Moss', DEFAULT), (2, 1, 'Hal Price', 'physio');
INSERT INTO referee (referee_id, full_name, country_code) VALUES (1, 'Ivo Stein', 'DE'), (2, 'Jon Hale', NULL);
INSERT INTO match (match_id, season_id, home_team_id, away_team_id, venue_id, kickoff, status, home_goals, away_goals) VALUES
    (1, 1, 1, 2, 1, '2026-08-10 15:00:00+00', 'finished', 2, 1),
    (2, 1, 2, 3, 2, '2026-08-17 18:30:00+00', 'finished', 0, 0),
    (3, 1, 3, 1, NULL, '2026-08-24 14:00:00+00', DEFAULT, DEFAULT, DEFAULT);
INSERT INTO goal (match_id, seq, minute, scorer_id, assist_id, own_goal) VALUES
    (1, 1, 12, '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002', false),
    (1, 2, 55, '00000000-0000-0000-0000-000000000003', NULL, false),
    (1, 3, 80, '00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', false);
INSERT INTO lineup (match_id, player_id) VALUES
    (1, '00000000-0000-0000-0000-000000000001'), (1, '00000000-0000-0000-0000-000000000002'),
    (1, '00000000-0000-0000-0000-000000000003'), (1, '00000000-0000-0000-0000-000000000004'),
    (2, '00000000-0000-0000-0000-000000000003'), (2, '00000000-0000-0000-0000-000000000005');
INSERT INTO match_official (match_id, referee_id) VALUES (1, 1), (2, 1), (2, 2);
INSERT INTO sponsor (sponsor_id, name, website, tags)
VALUES (1, 'Acme', NULL, '{tools}'), (2, 'Globex', 'https://globex.example', '{energy,travel}');
INSERT INTO sponsorship (team_id, sponsor_id, season_id, amount) VALUES (1, 1, 1, 1000.50), (2, 2, 1, 2500.00);
INSERT INTO broadcast (broadcast_id, match_id, channel) VALUES (1, 1, 'LeagueTV'), (2, 1, 'Radio 5'), (3, 2, 'LeagueTV');
INSERT INTO audit_entry (message) VALUES ('loaded');
UPDATE venue SET opens_at = '12:30' WHERE venue_id = 1;
UPDATE referee SET last_login_ip = '10.0.0.7' WHERE referee_id = 1;
UPDATE match SET duration = '1 hour 52 minutes' WHERE match_id = 1;
UPDATE player SET search = to_tsvector('english', full_name || ' ' || position);

SELECT setval(pg_get_serial_sequence('season', 'season_id'), 1);
SELECT setval(pg_get_serial_sequence('venue', 'venue_id'), 2);
SELECT setval(pg_get_serial_sequence('team', 'team_id'), 3);
SELECT setval(pg_get_serial_sequence('staff', 'staff_id'), 2);
SELECT setval(pg_get_serial_sequence('referee', 'referee_id'), 2);
SELECT setval(pg_get_serial_sequence('match', 'match_id'), 3);
SELECT setval(pg_get_serial_sequence('sponsor', 'sponsor_id'), 2);
SELECT setval(pg_get_serial_sequence('broadcast', 'broadcast_id'), 3);
