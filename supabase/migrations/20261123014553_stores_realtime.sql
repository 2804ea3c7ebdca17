-- Stores publish their transitions like projects do (flow ⑥): topics tenant:<id> and store:<id>,
-- with the sealed first-admin credentials stripped from the event.
CREATE TRIGGER stores_published AFTER INSERT OR UPDATE ON stores
  FOR EACH ROW EXECUTE FUNCTION switchyard_resource_published('store', 'initial_credentials');
