-- Applied after 01_widgets.sql (name order).
INSERT INTO widgets (name, kind) VALUES ('alpha', 'small'), ('beta', 'large'), ('gamma', 'small');
