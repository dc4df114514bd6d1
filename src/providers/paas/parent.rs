//! The project a PaaS resource lives in: its id is recorded in the object's status before
//! anything is created (the create needs it, and a lost answer is found again by name within
//! that project).

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::api::PaasProject;
use crate::reconcile::conditions::{READY, Wanted, is_true};
use crate::reconcile::error::Error;
use crate::reconcile::kind::PortalKind;
use crate::reconcile::shell::Run;

/// A status that records its project's id.
pub trait InProject {
    fn project_id(&mut self) -> &mut Option<String>;
}

/// Waits (`ProjectNotReady`) until the PaasProject `project` of the object's namespace is Ready,
/// then records its id; `None` once it is recorded.
pub async fn record_project_id<K>(
    run: &mut Run<'_, K>,
    project: &str,
) -> Result<Option<Action>, Error>
where
    K: PortalKind,
    K::Status: InProject,
{
    if run.status().clone().project_id().is_some() {
        return Ok(None);
    }
    let namespace = run.object.namespace().unwrap_or_default();
    let projects: Api<PaasProject> = Api::namespaced(run.ctx.kube.clone(), &namespace);
    let found = projects.get_opt(project).await?;
    let ready_id = found.as_ref().and_then(|p| {
        let status = p.status.as_ref()?;
        let ready = is_true(&status.managed.conditions, READY);
        status.managed.id.clone().filter(|_| ready)
    });
    let Some(id) = ready_id else {
        let message = match found {
            None => {
                format!("the PaasProject '{project}' does not exist in this namespace: create it")
            }
            Some(_) => format!(
                "the PaasProject '{project}' is not Ready yet: this {} waits for it",
                K::NOUN
            ),
        };
        let status = run.status_with(&[Wanted::ready(false, "ProjectNotReady", message)]);
        run.write(status).await?;
        return Ok(Some(Action::requeue(run.ctx.timing.poll)));
    };
    let mut status = run.status().clone();
    *status.project_id() = Some(id);
    run.write(status).await?;
    // Looked at again once the cache holds the id the create and the look for it read.
    Ok(Some(Action::requeue(Duration::from_millis(200))))
}
