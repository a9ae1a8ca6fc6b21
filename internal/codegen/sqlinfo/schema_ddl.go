package sqlinfo

import (
	"regexp"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// psqlMeta matches a psql meta-command line (\restrict KEY, \connect db),
// which pg_dump writes and which is not SQL.
var psqlMeta = regexp.MustCompile(`^\\[A-Za-z!?;]`)

// rollbackMarkers start the down part of a migration file; sqlc ignores
// everything from such a line on.
var rollbackMarkers = []string{"-- +goose down", "-- +migrate down", "---- create above / drop below ----", "-- migrate:down"}

// migrationUp blanks what sqlc ignores in a schema file (the rollback part
// of a migration, psql meta-commands), keeping line numbers.
func migrationUp(src string) string {
	if !strings.Contains(src, "\\") && !strings.Contains(src, "--") {
		return src
	}
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		low := strings.ToLower(l)
		if slices.ContainsFunc(rollbackMarkers, func(m string) bool { return strings.HasPrefix(low, m) }) {
			for j := i; j < len(lines); j++ {
				lines[j] = ""
			}
			break
		}
		if psqlMeta.MatchString(l) {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// qualified joins a schema and a name the way relName does.
func qualified(schema, name string) string {
	if schema == "" || schema == "public" {
		return name
	}
	return schema + "." + name
}

// schemaOf is the schema part of a normalised name ("" for public).
func schemaOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return ""
}

// rename applies ALTER TABLE/VIEW ... RENAME [COLUMN|CONSTRAINT] ... TO.
func (s *Schema) rename(r *pg.RenameStmt) {
	if r.Relation == nil {
		return
	}
	old := relName(r.Relation)
	switch r.RenameType {
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_MATVIEW, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_FOREIGN_TABLE:
		s.moveRelation(old, qualified(schemaOf(old), r.Newname))
	case pg.ObjectType_OBJECT_COLUMN:
		t, ok := s.Tables[old]
		if !ok {
			return
		}
		from, to := r.Subname, r.Newname
		ren := func(cols []string) {
			for i, c := range cols {
				if c == from {
					cols[i] = to
				}
			}
		}
		ren(t.Columns)
		ren(t.Generated)
		if t.PrimaryKey != nil {
			ren(t.PrimaryKey.Columns)
		}
		for i := range t.UniqueKeys {
			ren(t.UniqueKeys[i].Columns)
		}
		for i := range t.ForeignKeys {
			ren(t.ForeignKeys[i].Columns)
		}
		for _, u := range s.Tables {
			for i := range u.ForeignKeys {
				if u.ForeignKeys[i].RefTable == old {
					ren(u.ForeignKeys[i].RefColumns)
				}
			}
		}
	case pg.ObjectType_OBJECT_TABCONSTRAINT:
		t, ok := s.Tables[old]
		if !ok {
			return
		}
		if t.PrimaryKey != nil && t.PrimaryKey.Name == r.Subname {
			t.PrimaryKey.Name = r.Newname
		}
		for i := range t.UniqueKeys {
			if t.UniqueKeys[i].Name == r.Subname {
				t.UniqueKeys[i].Name = r.Newname
			}
		}
		for i := range t.ForeignKeys {
			if t.ForeignKeys[i].Name == r.Subname {
				t.ForeignKeys[i].Name = r.Newname
			}
		}
	}
}

// setSchema applies ALTER TABLE/VIEW ... SET SCHEMA.
func (s *Schema) setSchema(a *pg.AlterObjectSchemaStmt) {
	if a.Relation == nil {
		return
	}
	old := relName(a.Relation)
	s.moveRelation(old, qualified(a.Newschema, a.Relation.Relname))
}

// moveRelation renames a table or view, and every reference to it.
func (s *Schema) moveRelation(old, name string) {
	if old == name {
		return
	}
	if v, ok := s.Views[old]; ok {
		delete(s.Views, old)
		v.Name = name
		s.Views[name] = v
	}
	t, ok := s.Tables[old]
	if !ok {
		return
	}
	delete(s.Tables, old)
	t.Name = name
	s.Tables[name] = t
	for _, u := range s.Tables {
		for i := range u.ForeignKeys {
			if u.ForeignKeys[i].RefTable == old {
				u.ForeignKeys[i].RefTable = name
			}
		}
		for i, p := range u.Parents {
			if p == old {
				u.Parents[i] = name
			}
		}
	}
}

// drop applies DROP TABLE / VIEW / MATERIALIZED VIEW. Foreign keys of other
// tables that reference a dropped table go with it (DROP ... CASCADE; without
// CASCADE PostgreSQL refuses, and sqlc does not check).
func (s *Schema) drop(d *pg.DropStmt) {
	switch d.RemoveType {
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW, pg.ObjectType_OBJECT_FOREIGN_TABLE:
	default:
		return
	}
	for _, o := range d.Objects {
		l := o.GetList()
		if l == nil {
			continue
		}
		parts := strs(l.Items)
		var name string
		switch len(parts) {
		case 1:
			name = parts[0]
		case 2:
			name = qualified(parts[0], parts[1])
		case 3:
			name = qualified(parts[1], parts[2])
		default:
			continue
		}
		delete(s.Views, name)
		if _, ok := s.Tables[name]; !ok {
			continue
		}
		delete(s.Tables, name)
		for _, u := range s.Tables {
			u.ForeignKeys = slices.DeleteFunc(u.ForeignKeys, func(fk ForeignKey) bool { return fk.RefTable == name })
			u.Parents = slices.DeleteFunc(u.Parents, func(p string) bool { return p == name })
		}
	}
}
