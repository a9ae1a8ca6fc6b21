CREATE TYPE status AS ENUM ('open', 'closed');
DROP TYPE status;