-- One row that /readyz rewrites while writes are failing, to learn when they work again (a
-- disk that filled up and was freed) without waiting for client traffic a balancer withholds.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);
