-- Priority and fairness of inference: a rule's frames go to the high-priority queue of a model
-- worker (served before any standard frame), and a licence's inference share weighs its tenant
-- against the others within each priority (weighted fair queueing).
ALTER TABLE tenants
    ADD COLUMN inference_share integer NOT NULL DEFAULT 1
        CHECK (inference_share BETWEEN 1 AND 1000);

ALTER TABLE rules
    ADD COLUMN priority text NOT NULL DEFAULT 'standard'
        CHECK (priority IN ('high', 'standard'));

-- Intrusion and fire are high priority by default, for the rules that exist as for new ones.
UPDATE rules SET priority = 'high' WHERE kind = 'intrusion' OR detector = 'fire';
