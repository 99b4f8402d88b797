//! Contacts, lists, tags, suppression entries and contact history.

use std::str::FromStr;

use super::*;

impl DialectStore {
    /// Fills in the tags of these contacts.
    pub(super) async fn tags_for(&self, contacts: &mut [Contact]) -> Result<(), StoreError> {
        if contacts.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query(QUERIES.tags_for_contacts)
            .bind(list(contacts.iter().map(|c| c.id)))
            .fetch_all(&self.pool)
            .await
            .doing("reading contact tags")?;
        let mut by_contact: BTreeMap<i64, Vec<Tag>> = BTreeMap::new();
        for row in rows {
            by_contact
                .entry(row.get("contact_id"))
                .or_default()
                .push(Tag {
                    name: row.get("tag"),
                    source: row.get("source"),
                    expires_at: row.get("expires_at"),
                });
        }
        for c in contacts.iter_mut() {
            c.tags = by_contact.remove(&c.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Contacts from their rows, tags included.
    pub(super) async fn contacts_with_tags(
        &self,
        rows: &[DbRow],
    ) -> Result<Vec<Contact>, StoreError> {
        let mut contacts = rows
            .iter()
            .map(rows::contact)
            .collect::<Result<Vec<_>, _>>()?;
        self.tags_for(&mut contacts).await?;
        Ok(contacts)
    }

    pub(in crate::store) async fn upsert_contacts(
        &self,
        batch: &[NewContact],
        present: Present,
        list_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting an import transaction")?;
        let external_ids = list(batch.iter().map(|c| c.contact.external_id.as_str()));
        let existing: BTreeMap<String, Contact> = sqlx::query(QUERIES.contacts_by_external_ids)
            .bind(external_ids)
            .fetch_all(&mut *tx)
            .await
            .doing("reading existing contacts")?
            .iter()
            .map(|r| rows::contact(r).map(|c| (c.external_id.clone(), c)))
            .collect::<Result<_, _>>()?;
        let (counts, writes) = rows::merge_batch(batch, &existing, present);
        let mut ids = write_contacts(&mut tx, &writes, now).await?;
        for (external_id, c) in &existing {
            ids.entry(external_id.clone()).or_insert(c.id);
        }
        let id_of = |new: &NewContact| -> Result<i64, StoreError> {
            ids.get(&new.contact.external_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "contact `{}` was not written",
                    new.contact.external_id
                ))
            })
        };
        let mut tags: Vec<(i64, &str)> = Vec::new();
        for new in batch {
            let id = id_of(new)?;
            tags.extend(new.tags.iter().map(|t| (id, t.as_str())));
        }
        add_tags(&mut tx, &tags, "import", now).await?;
        if let Some(name) = list_name {
            let list_id: i64 = sqlx::query_scalar(QUERIES.ensure_list)
                .bind(name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .doing("creating the contact list")?;
            let members = batch.iter().map(id_of).collect::<Result<Vec<i64>, _>>()?;
            if !members.is_empty() {
                sqlx::query(QUERIES.add_list_member)
                    .bind(list_id)
                    .bind(list(members))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .doing("adding contacts to the list")?;
            }
        }
        tx.commit().await.doing("committing an import batch")?;
        Ok(counts)
    }

    pub(in crate::store) async fn contact(
        &self,
        external_id: &str,
    ) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(QUERIES.contact_by_external_id)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a contact")?;
        Ok(self.contacts_with_tags(row.as_slice()).await?.pop())
    }

    pub(in crate::store) async fn contact_by_id(
        &self,
        id: i64,
    ) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(QUERIES.contact_by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a contact")?;
        Ok(self.contacts_with_tags(row.as_slice()).await?.pop())
    }

    pub(in crate::store) async fn contacts_by_ids(
        &self,
        ids: &[i64],
    ) -> Result<Vec<Contact>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.contacts_by_ids)
            .bind(list(ids.iter().copied()))
            .fetch_all(&self.pool)
            .await
            .doing("reading contacts")?;
        self.contacts_with_tags(&rows).await
    }

    pub(in crate::store) async fn count_contacts(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.count_contacts)
            .fetch_one(&self.pool)
            .await
            .doing("counting contacts")
    }

    pub(in crate::store) async fn max_contact_id(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.max_contact_id)
            .fetch_one(&self.pool)
            .await
            .doing("reading the highest contact id")
    }

    pub(in crate::store) async fn contacts_page(
        &self,
        lists: &[String],
        after: i64,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        let rows = if lists.is_empty() {
            sqlx::query(QUERIES.contacts_page)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
        } else {
            sqlx::query(QUERIES.contacts_page_in_lists)
                .bind(after)
                .bind(limit)
                .bind(list(lists.iter().map(String::as_str)))
                .fetch_all(&self.pool)
                .await
        }
        .doing("reading a page of the audience")?;
        self.contacts_with_tags(&rows).await
    }

    pub(in crate::store) async fn list_counts(&self) -> Result<Vec<NamedCount>, StoreError> {
        let rows = sqlx::query(QUERIES.list_counts)
            .fetch_all(&self.pool)
            .await
            .doing("counting list members")?;
        Ok(named_counts(&rows))
    }

    pub(in crate::store) async fn lists_of(
        &self,
        contact_id: i64,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(QUERIES.lists_of_contact)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await
            .doing("reading a contact's lists")
    }

    pub(in crate::store) async fn lists_of_contacts(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.report_lists_of_contacts)
            .bind(list(ids.iter().copied()))
            .fetch_all(&self.pool)
            .await
            .doing("reading the lists of contacts")?;
        Ok(rows
            .iter()
            .map(|r| (r.get("contact_id"), r.get("name")))
            .collect())
    }

    pub(in crate::store) async fn upsert_tag(
        &self,
        contact_id: i64,
        tag: &Tag,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tag = tag.clone();
        self.write_one(&Write::Tag { contact_id, tag }, now).await?;
        Ok(())
    }

    pub(in crate::store) async fn remove_tag(
        &self,
        contact_id: i64,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let name = tag.into();
        Ok(self
            .write_one(&Write::Untag { contact_id, name }, now)
            .await?
            > 0)
    }

    pub(in crate::store) async fn tag_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<NamedCount>, StoreError> {
        let rows = sqlx::query(QUERIES.tag_counts)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .doing("counting tags")?;
        Ok(named_counts(&rows))
    }

    pub(in crate::store) async fn tag_names(&self) -> Result<BTreeSet<String>, StoreError> {
        let tags: Vec<String> = sqlx::query_scalar(QUERIES.tag_names)
            .fetch_all(&self.pool)
            .await
            .doing("reading tag names")?;
        Ok(tags.into_iter().collect())
    }

    pub(in crate::store) async fn attribute_keys(&self) -> Result<BTreeSet<String>, StoreError> {
        let keys: Vec<String> = sqlx::query_scalar(QUERIES.attribute_keys)
            .fetch_all(&self.pool)
            .await
            .doing("reading attribute names")?;
        Ok(keys.into_iter().collect())
    }

    pub(in crate::store) async fn upsert_suppressions(
        &self,
        entries: &[Suppression],
    ) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting a suppression transaction")?;
        let mut written = 0;
        // Row by row: a batch may name one entry twice, which one multi-row upsert refuses.
        for s in entries {
            written += sqlx::query(QUERIES.upsert_suppression)
                .bind(s.kind.as_str())
                .bind(s.target.kind())
                .bind(s.target.value())
                .bind(s.channel.map(|c| c.as_str()))
                .bind(&s.reason)
                .bind(&s.source)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(&mut *tx)
                .await
                .doing("writing a suppression entry")?
                .rows_affected();
        }
        tx.commit().await.doing("committing suppression entries")?;
        Ok(written)
    }

    pub(in crate::store) async fn delete_suppression(
        &self,
        target_kind: &str,
        value: &str,
        kind: Option<SuppressionKind>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(QUERIES.delete_suppression)
            .bind(target_kind)
            .bind(value)
            .bind(kind.map(|k| k.as_str()))
            .execute(&self.pool)
            .await
            .doing("removing a suppression entry")?;
        Ok(done.rows_affected())
    }

    pub(in crate::store) async fn suppressions(
        &self,
        now: DateTime<Utc>,
        include_expired: bool,
        limit: i64,
    ) -> Result<Vec<Suppression>, StoreError> {
        let rows = sqlx::query(QUERIES.suppressions_list)
            .bind(now)
            .bind(include_expired)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("listing suppression entries")?;
        rows.iter().map(rows::suppression).collect()
    }

    pub(in crate::store) async fn suppressions_for(
        &self,
        contacts: &[Contact],
    ) -> Result<Vec<Suppression>, StoreError> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let phones = contacts.iter().filter_map(|c| c.phone.as_ref());
        let emails = contacts.iter().filter_map(|c| c.email.as_ref());
        let rows = sqlx::query(QUERIES.suppressions_for_targets)
            .bind(list(phones.map(|p| p.as_str())))
            .bind(list(emails.map(|e| e.as_str())))
            .bind(list(contacts.iter().map(|c| c.external_id.as_str())))
            .fetch_all(&self.pool)
            .await
            .doing("reading suppression entries for the audience")?;
        rows.iter().map(rows::suppression).collect()
    }

    pub(in crate::store) async fn history_for(
        &self,
        contact_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError> {
        let mut out: BTreeMap<i64, Vec<PastAttempt>> = BTreeMap::new();
        if contact_ids.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(QUERIES.history_for_contacts)
            .bind(list(contact_ids.iter().copied()))
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .doing("reading contact history")?;
        for r in rows {
            let channel = r.text("channel")?;
            let attempt = PastAttempt {
                at: r.get("sent_at"),
                channel: Channel::from_str(&channel).map_err(StoreError::Corrupt)?,
                connected: r.flag("connected")?,
                obligation: r.get("obligation"),
            };
            out.entry(r.get("contact_id")).or_default().push(attempt);
        }
        Ok(out)
    }
}
