package vault

import (
	"context"
	"fmt"

	"sigill/vault/kv"
)

// EngineStats is the engine's own figures (kv.Stater: for bbolt the file's
// size and the pages its commits wrote), or nil when the engine keeps none.
// Unlike Stats it walks nothing: it costs the same for any size of vault.
func (v *Vault) EngineStats() (map[string]int64, error) {
	st, ok := v.eng.(kv.Stater)
	if !ok {
		return nil, nil
	}
	figures, err := st.Stats(context.Background())
	if err != nil {
		return nil, fmt.Errorf("vault: engine stats: %w", err)
	}
	return figures, nil
}
