CREATE TYPE status AS ENUM ('open', 'closed');
DROP TYPE IF EXISTS status;
DROP TYPE IF EXISTS status;