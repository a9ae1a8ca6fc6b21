package httpmw_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/httpmw"
)

// A service wires the middleware around its router and opts single routes
// into a transaction.
func Example() {
	var pool *pgxpool.Pool        // from postgres.NewPool
	var repository *db.Repository // from db.NewRepository(pool, runtime)
	logger := slog.New(httpmw.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		u, err := repository.GetUser(r.Context(), id)
		if err != nil {
			httpmw.WriteError(w, r, err) // 404, 503 + Retry-After, ...
			return
		}
		_ = json.NewEncoder(w).Encode(u)
	})
	mux.Handle("POST /users", httpmw.Transactional(repository, httpmw.TxConfig{DB: pool},
		func(w http.ResponseWriter, r *http.Request) error {
			tx := httpmw.Repo[*db.Repository](r.Context())
			u, err := tx.CreateUser(r.Context(), db.CreateUserParams{Email: r.FormValue("email"), DisplayName: "New", Role: db.UserRoleMember})
			if err != nil {
				return err // rolled back, answered by WriteError
			}
			w.WriteHeader(http.StatusCreated) // sent after COMMIT
			return json.NewEncoder(w).Encode(u)
		}))
	handler := httpmw.New(httpmw.Config{Logger: logger})(mux)
	_ = http.ListenAndServe("127.0.0.1:8080", handler)
}
