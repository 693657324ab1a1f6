//! `…Ids` link lists: junction rows inserted and deleted under the junction's own rules, leaving
//! links the caller cannot see as they are.

use super::*;

impl Writer<'_> {
    /// Makes the links of each row through a junction that the role can see exactly
    /// `link.targets`: junction rows are deleted and inserted by a writer of the junction, so its
    /// own delete and insert rules (filters, checks, references) apply; links the role cannot see
    /// are left as they are.
    pub(super) async fn replace_links(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        link: &Links,
    ) -> Result<(), GatewayError> {
        let relation = &self.meta().relations[link.relation];
        self.require_visible(transaction, relation.target, &relation.to_columns, &link.targets)
            .await?;
        let RelationKind::ManyToMany {
            junction,
            junction_from,
            junction_to,
        } = &relation.kind
        else {
            return Err(GatewayError::Internal);
        };
        let junction_meta = self.registry.entity(*junction);
        // The junction's own reference to the target, through which a link's visibility is read.
        let to_target = junction_meta
            .relations
            .iter()
            .position(|candidate| {
                candidate.kind == RelationKind::ManyToOne
                    && candidate.target == relation.target
                    && candidate.from_columns == *junction_to
            })
            .ok_or(GatewayError::Internal)?;
        let target_position = junction_meta
            .primary_key
            .iter()
            .position(|column| *column == junction_to[0])
            .ok_or(GatewayError::Internal)?;
        let junction_writer = Writer {
            entity: *junction,
            ..*self
        };
        let mut targets: Vec<Value> = Vec::new();
        for target in &link.targets {
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
        for key in keys {
            let owner: Vec<Predicate> = junction_from
                .iter()
                .zip(key)
                .map(|(column, value)| Predicate::Compare {
                    column: column.clone(),
                    operator: crate::plan::Comparison::Eq,
                    value: value.clone(),
                })
                .collect();
            let mut visible_links = owner.clone();
            visible_links.push(Predicate::Related {
                relation: to_target,
                quantifier: crate::plan::Quantifier::One,
                predicate: Box::new(Predicate::And(Vec::new())),
            });
            let current = junction_writer
                .target_keys(transaction, &Target::Filter(Some(Predicate::And(visible_links))), None)
                .await?;
            let stale: Vec<Key> = current
                .iter()
                .filter(|link| !targets.contains(&link[target_position]))
                .cloned()
                .collect();
            if !stale.is_empty() {
                let grant = self.access.grant(self.registry, *junction, RowOp::Delete)?;
                let deletable = junction_writer
                    .target_keys(
                        transaction,
                        &Target::Filter(Some(Predicate::KeyIn {
                            columns: junction_meta.primary_key.clone(),
                            keys: stale.clone(),
                        })),
                        grant.target_filter(),
                    )
                    .await?;
                if deletable.len() != stale.len() {
                    return Err(crate::permission::forbidden_unlink(&crate::plan::write::links_field(
                        &relation.field,
                    )));
                }
                junction_writer.delete(transaction, &deletable).await?;
            }
            let rows: Vec<InsertRow> = targets
                .iter()
                .filter(|target| !current.iter().any(|link| link[target_position] == **target))
                .map(|target| InsertRow {
                    values: junction_from
                        .iter()
                        .cloned()
                        .zip(key.iter().cloned())
                        .chain(std::iter::once((junction_to[0].clone(), target.clone())))
                        .collect(),
                    ..InsertRow::default()
                })
                .collect();
            if !rows.is_empty() {
                Box::pin(junction_writer.insert(transaction, &rows))
                    .await
                    .map_err(|error| {
                        let target = self.registry.entity(relation.target);
                        match error {
                            GatewayError::ConstraintViolation(_) => GatewayError::ConstraintViolation(format!(
                                "{}: every id must name an existing {} this role can read",
                                crate::plan::write::links_field(&relation.field),
                                target.type_name
                            )),
                            other => other,
                        }
                    })?;
            }
        }
        Ok(())
    }
}
