//! `/v1/escalations`: handing conversations to humans in a CRM or helpdesk.

use poem_openapi::payload::Json;

use super::{HoverBot, RequestContext};
use crate::problem::ApiError;
use crate::store::entity::escalation;
use crate::store::escalations::{self, Changes, Filter, NewEscalation};
use crate::store::json;
use hoverbot_api::{
    CreateEscalationParams, CreateEscalationRequest, CreateEscalationResponse, Escalation,
    EscalationList, EscalationsApi, GetEscalationParams, GetEscalationResponse,
    ListEscalationsParams, ListEscalationsResponse, Priority, UpdateEscalationParams,
    UpdateEscalationRequest, UpdateEscalationResponse,
};

fn to_wire(row: escalation::Model) -> Result<Escalation, ApiError> {
    Ok(Escalation {
        id: row.id,
        conversation_id: row.conversation_id,
        reason_code: row.reason_code,
        destination: row.destination,
        owner: row.owner,
        priority: row.priority,
        note: row.note,
        status: row.status,
        metadata: json::decode(&row.metadata)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl EscalationsApi for HoverBot {
    async fn list_escalations(
        &self,
        ctx: RequestContext,
        params: ListEscalationsParams,
    ) -> poem::Result<ListEscalationsResponse> {
        let filter = Filter {
            status: params.status,
            conversation_id: params.conversation_id,
        };
        let page = escalations::list(
            &self.db,
            &ctx.principal.workspace,
            filter,
            params.limit,
            params.cursor.as_deref(),
        )
        .await?;
        let has_more = page.has_more();
        let page = page.try_map(to_wire)?;
        Ok(ListEscalationsResponse::Ok(Json(EscalationList {
            data: page.items,
            has_more,
            next_cursor: page.next_cursor,
        })))
    }

    async fn create_escalation(
        &self,
        ctx: RequestContext,
        _params: CreateEscalationParams,
        body: CreateEscalationRequest,
    ) -> poem::Result<CreateEscalationResponse> {
        let new = NewEscalation {
            conversation_id: body.conversation_id,
            reason_code: body.reason_code,
            destination: body.destination,
            owner: body.owner,
            priority: body.priority.unwrap_or(Priority::Normal),
            note: body.note,
            metadata: json::encode(&body.metadata.unwrap_or_default())?,
        };
        let row =
            escalations::create(&self.db, &self.outbox, &ctx.principal.workspace, new).await?;
        Ok(CreateEscalationResponse::Created(Json(to_wire(row)?)))
    }

    async fn get_escalation(
        &self,
        ctx: RequestContext,
        params: GetEscalationParams,
    ) -> poem::Result<GetEscalationResponse> {
        let row =
            escalations::get_or_404(&self.db, &ctx.principal.workspace, &params.escalation_id)
                .await?;
        Ok(GetEscalationResponse::Ok(Json(to_wire(row)?)))
    }

    async fn update_escalation(
        &self,
        ctx: RequestContext,
        params: UpdateEscalationParams,
        body: UpdateEscalationRequest,
    ) -> poem::Result<UpdateEscalationResponse> {
        let changes = Changes {
            status: body.status,
            owner: body.owner.into(),
            priority: body.priority,
            note: body.note.into(),
        };
        let row = escalations::update(
            &self.db,
            &self.outbox,
            &ctx.principal.workspace,
            &params.escalation_id,
            changes,
        )
        .await?;
        Ok(UpdateEscalationResponse::Ok(Json(to_wire(row)?)))
    }
}
