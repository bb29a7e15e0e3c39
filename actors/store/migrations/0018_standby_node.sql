-- Each placed camera's standby: the node that holds a copy of its footage and takes it over when
-- its owner dies (the rendezvous runner-up, in another zone when nodes have one).
ALTER TABLE placement ADD COLUMN standby_node text;
